"""The `percus` command and the configuration every part reads."""
