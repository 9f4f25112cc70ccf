"""allocate: joint humanitarian and military resource planning with checkable plans."""
__version__ = "0.1.0"
