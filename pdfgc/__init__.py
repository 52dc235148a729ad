"""pdfgc: data preparation, progressive training and synthesis for PD-FGC talking heads."""

__version__ = "0.1.0"
