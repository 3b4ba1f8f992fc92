"""The web front end, a thin adapter over the facade: one server (server) for the Gradio chat and
widget (ui, view), the HTTP API (api), and who may call or frame them (access)."""
