"""Cloud providers: Annotators that send images out, each through its protocol's wire adapter,
only when the configuration allows it, and always recorded in the audit log."""
