"""The lab side: consortium set-up, inputs, sync engine and outputs."""
