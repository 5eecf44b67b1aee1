"""Analytics layer: metrics and parameterised queries over the store. Never imports Streamlit."""
