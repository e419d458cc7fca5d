"""The chat page over an index: ``build_app(index_dir)`` and ``serve(index_dir)`` (see ui.app)."""
from __future__ import annotations

from typing import Any

__all__ = ["build_app", "serve"]


def __getattr__(name: str) -> Any:  # import gradio and the pipeline only when asked for
    if name in __all__:
        from ui import app

        return getattr(app, name)
    raise AttributeError(f"module 'ui' has no attribute {name!r}")
