"""Visual feature extractors behind one interface, built by name from a registry."""
