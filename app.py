"""Run the chat in a browser: settings -> assistant -> UI -> launch (http://127.0.0.1:7860)."""

from assistant.config import Settings, apply_offline_env


def main() -> None:
    """Serve the full chat on the configured host and port (ASSISTANT_HOST, ASSISTANT_PORT)."""
    apply_offline_env()
    from assistant.assistant import Assistant
    from assistant.ui import build_ui, launch_options

    settings = Settings.from_env()
    assistant = Assistant.from_settings(settings)
    assistant.warm_up()
    build_ui(assistant).launch(
        server_name=settings.host, server_port=settings.port, **launch_options()
    )


if __name__ == "__main__":
    main()
