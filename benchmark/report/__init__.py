"""Tables, statistics and plots rendered from the results store (never from models)."""
