"""Read side: figures and lists computed from the projector's read models."""
