"""The pure cryptographic core: no grpc, no redis, no files."""
