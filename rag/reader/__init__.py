"""The trained extractive reader: data, windows, model, span scoring, training and calibration.

Entry points: ``Reader`` (rag.reader.model) reads passages; ``rag train-reader``
(rag.reader.train) trains and calibrates it; ``python -m rag.reader.synth`` generates questions.
"""
