"""The shared internal vocabulary every protocol and the relay stand on."""
