"""How models run here: llama.cpp for the local language model (llm, lookup, pump), the model
file it loads (modelfile), and ONNX Runtime for the embedding model's question encoder."""
