"""The coordinator: gRPC servicer, authorisation, escrow and store."""
