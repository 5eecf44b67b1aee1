"""NLP layer: normalisation, segmentation, sentiment, aspects, training, evaluation and the result cache.

Never imports Streamlit or ``analytics``.
"""
