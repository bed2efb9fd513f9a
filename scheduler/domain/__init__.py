"""Domain model: frozen value types, states and typed errors. Imports nothing from the project."""
