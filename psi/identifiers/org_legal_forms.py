"""Legal-form designations removed from organisation names, list v1.

This list is part of the ``org.name.c1`` rule. Adding or removing an
entry changes which names match, so it must come with a new kind code
(``org.name.c2``) and a new :data:`VERSION`; the tests pin a digest of
the folded list to make that impossible to miss.

Entries are written the way they appear in names, with their usual
punctuation; :mod:`.org` folds them with exactly the rules it applies to
names, so ``L.L.C.``, ``L L C`` and ``LLC`` are one entry after folding.
Spelling variants are listed only where folding does not already join
them (``Ltée`` and ``Ltee``: accents are kept).

:data:`SUFFIXES` are removed from the end of a name, repeatedly, so
``Co., Ltd.`` needs no entry of its own. :data:`PREFIXES` are the forms
that by convention stand before the name (``ООО Ромашка``, ``Limited
Liability Company Sberbank Capital``, ``PT Bank ...``, ``株式会社...``).
Entries wholly in Han or kana script are also matched inside the last
(or first) word, since Chinese and Japanese names carry no spaces.

Left out on purpose: words that are often part of a name rather than
its form (Group, Holding, Trust, Bank, Fund, Partners), and short forms
that would eat common name words (``PA``, ``ME``, ``PS``; ``AO`` and
``TOO`` as prefixes). Sources for the forms: the entity-type lists of
the registers concerned, checked for coverage against the ISO 20275
(ELF) abbreviations in a test; no list was copied.
"""
from __future__ import annotations

__all__ = ["VERSION", "SUFFIXES", "PREFIXES"]

VERSION = 1

SUFFIXES: tuple[str, ...] = (
    # English-speaking jurisdictions, generic.
    "Inc", "Incorporated", "Incorporation", "Corp", "Corporation", "Co",
    "Company", "Ltd", "Limited", "Limited Liability Company",
    "Limited Liability Co", "Ltd Liability Company", "Ltd Liability Co",
    "LLC", "L.L.C.", "LC", "L3C", "LCA", "PLLC", "PC", "Prof Corp",
    "Professional Corporation", "Professional Service Corporation", "PBC",
    "LLP", "Limited Liability Partnership",
    "Registered Limited Liability Partnership", "RLLP", "LLLP", "RLLLP",
    "LP", "Limited Partnership", "Ltd Partnership", "ILP", "SLP",
    "Unlimited", "Unltd", "Ultd", "LDC", "PCC", "ICC",
    "Unlimited Company", "plc", "Public Limited Company",
    "Public Company Limited", "PCL", "NA", "IBC", "& Co", "and Company",
    "& Cie", "Co-op", "Coop", "Cooperative", "Co-operative",
    # United Kingdom, Ireland.
    "CIC", "DAC", "CLG", "ULC", "UC", "Cyf", "Cyfyngedig", "CCC",
    # Canada (French forms).
    "Ltée", "Ltee", "Limitée", "Limitee", "Incorporée", "Incorporee",
    "SENC", "SENCRL", "S.E.N.C.R.L.",
    # Australia, New Zealand, South and South-East Asia.
    "Pty", "Pty Ltd", "Proprietary Limited", "Pvt", "Pvt Ltd",
    "Private Limited", "Proprietary Limited", "Proprietary Ltd", "Pte",
    "Pte Ltd", "OPC", "Sdn Bhd", "Sendirian Berhad", "Bhd", "Berhad", "Tbk",
    "Persero", "NL", "No Liability",
    # Germany, Austria, Switzerland, Liechtenstein.
    "GmbH", "Gesellschaft mit beschränkter Haftung", "mbH", "GesmbH",
    "Ges.m.b.H.", "AG", "Aktiengesellschaft", "KG", "Kommanditgesellschaft",
    "KGaA", "GmbH & Co KG", "AG & Co KG", "OHG", "UG",
    "UG (haftungsbeschränkt)", "eG", "e.K.", "GbR", "GesbR", "PartG", "OEG",
    "Sàrl", "Sarl",
    # European Union forms.
    "SE", "SCE", "EEIG", "EWIV", "GEIE",
    # France, Belgium, Luxembourg, Monaco.
    "SA", "Société Anonyme", "SAS", "SASU", "SARL", "EURL", "SNC", "SCS",
    "SCA", "SCI", "SCP", "SCOP", "GIE", "SCRL", "SPRL", "SRL", "SComm",
    "SICAV", "Coopérative",
    "BVBA", "CVBA", "ASBL", "NV/SA", "SA/NV",
    # Netherlands.
    "BV", "NV", "CV", "VOF",
    # Spain, Portugal, Italy.
    "SL", "SLU", "SAU", "SLL", "S. Coop", "Sociedad Anónima",
    "Sociedad Limitada", "Lda", "Ltda", "Limitada", "Unipessoal Lda",
    "SpA", "Srls", "Scarl", "Soc Coop", "Società per Azioni",
    "Società Cooperativa",
    # Latin America.
    "S.A. de C.V.", "S.A.B. de C.V.", "S.A.P.I. de C.V.", "S. de R.L.",
    "S. de R.L. de C.V.", "S.C.", "A.C.", "S. en C.", "S. en C.S.",
    "S.A.C.", "S.A.A.", "E.I.R.L.", "S.A.C.I.", "S.A.I.C.", "C.A.",
    "SOFOM", "SOFOM ENR", "SOFOM ER",
    "Sociedade Anônima", "EIRELI", "Cía Ltda", "Cia Ltda",
    # Nordic and Baltic countries.
    "AB", "AB (publ)", "HB", "KB", "AS", "ASA", "A/S", "ApS", "IVS", "Oy",
    "Oyj", "Ky", "hf", "ehf", "OÜ", "OU", "UAB", "SIA", "AAS",
    # Central and Eastern Europe.
    "Sp. z o.o.", "Spółka z o.o.", "sp.j.", "sp.k.", "S.K.A.",
    "s.r.o.", "spol. s r.o.", "a.s.", "v.o.s.", "k.s.",
    "Kft", "Zrt", "Nyrt", "Bt", "Kkt",
    "d.o.o.", "d.d.", "a.d.", "k.d.", "j.t.d.", "d.n.o.", "s.p.",
    "dooel", "SH.P.K.", "SHPK", "SH.A.",
    "OOD", "EOOD", "AD", "EAD", "ООД", "ЕООД", "АД", "ЕАД",
    # Greece, Cyprus, Turkey.
    "AE", "Α.Ε.", "Ε.Π.Ε.", "EPE", "Ι.Κ.Ε.",
    "O.E.", "E.E.", "A.Ş.", "A.S.", "Ltd. Şti.", "Ltd. Sti.",
    "Limited Şirketi", "Limited Sirketi", "Anonim Şirketi",
    "Anonim Sirketi",
    # Russia, Ukraine, Belarus, Kazakhstan and neighbours.
    "OOO", "ООО", "ZAO", "ЗАО", "OAO", "ОАО", "PAO", "ПАО", "AO", "АО",
    "NAO", "НАО", "ODO", "ОДО", "ТОО", "TOV", "ТОВ", "PrAT", "ПрАТ",
    "PAT", "ПАТ", "ZAT", "ЗАТ", "ТАА", "MMC", "PJSC", "JSC", "OJSC",
    "CJSC", "PJS",
    "Joint Stock Company", "Open Joint Stock Company",
    "Closed Joint Stock Company", "Public Joint Stock Company",
    "Aktsionernoe Obshchestvo", "Otkrytoe Aktsionernoe Obshchestvo",
    "Zakrytoe Aktsionernoe Obshchestvo",
    "Publichnoe Aktsionernoe Obshchestvo",
    "Obshchestvo s Ogranichennoi Otvetstvennostyu",
    "Obshchestvo s Ogranichennoy Otvetstvennostyu",
    "Акционерное общество", "Открытое акционерное общество",
    "Закрытое акционерное общество", "Публичное акционерное общество",
    "Общество с ограниченной ответственностью",
    # Middle East and North Africa.
    "FZE", "FZCO", "FZC", "FZ-LLC", "FZLLC", "LLC-FZ", "WLL", "W.L.L.",
    "SAL", "S.A.L.", "SAL Offshore", "SPC", "SAOG", "SAOC", "QSC", "QPSC",
    "BSC", "BSC (c)", "KSC", "KSCC", "KSCP", "PSC", "SAE",
    "ذ.م.م", "ش.ذ.م.م", "ش.م.ل", "ش.م.ع", "ش.م.خ", "ش.م.م", "בע\"מ",
    # East Asia: Japan, China, Hong Kong, Taiwan, Korea.
    "KK", "K.K.", "Kabushiki Kaisha", "GK", "Godo Kaisha", "YK",
    "Yugen Kaisha", "株式会社", "有限会社", "合同会社", "合資会社",
    "合名会社", "有限公司", "股份有限公司", "有限责任公司", "無限公司",
    "有限責任公司", "股份公司", "(주)", "주식회사", "유한회사",
    # Thailand.
    "จำกัด", "จำกัด (มหาชน)", "มหาชน",
)

PREFIXES: tuple[str, ...] = (
    # Russia, Ukraine, Belarus, Kazakhstan.
    "OOO", "ООО", "ZAO", "ЗАО", "OAO", "ОАО", "PAO", "ПАО", "АО", "НАО",
    "ТОО", "TOV", "ТОВ", "PrAT", "ПрАТ", "ПАТ", "ОДО",
    "Limited Liability Company", "Joint Stock Company",
    "Open Joint Stock Company", "Closed Joint Stock Company",
    "Public Joint Stock Company", "Aktsionernoe Obshchestvo",
    "Otkrytoe Aktsionernoe Obshchestvo",
    "Zakrytoe Aktsionernoe Obshchestvo",
    "Publichnoe Aktsionernoe Obshchestvo",
    "Obshchestvo s Ogranichennoi Otvetstvennostyu",
    "Obshchestvo s Ogranichennoy Otvetstvennostyu",
    "Акционерное общество", "Открытое акционерное общество",
    "Закрытое акционерное общество", "Публичное акционерное общество",
    "Общество с ограниченной ответственностью",
    # Japan, Korea.
    "株式会社", "有限会社", "合同会社", "(주)", "주식회사",
    # Indonesia, Vietnam, Thailand, Arab countries.
    "PT", "Công ty TNHH", "Cong ty TNHH", "Công ty Cổ phần",
    "Cong ty Co phan", "บริษัท", "شركة",
)
