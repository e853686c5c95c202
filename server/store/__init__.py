"""Coordinator state: small metadata and chunked blobs."""
