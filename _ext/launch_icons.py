"""The launch menu's Colab icon as a vector image.

sphinx-book-theme shows Colab's logo as a 225 px PNG scaled down to a few pixels; a browser blurs it, and a check of
figure text reads it as an unreadable image. This extension ships a small SVG (``_ext/static/logo_colab.svg``) and
points the launch button at it; the Binder icon is an SVG already.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.application import Sphinx

STATIC = Path(__file__).parent / "static"
THEME_ICON, VECTOR_ICON = "_static/images/logo_colab.png", "_static/logo_colab.svg"


def add_static_folder(app: Sphinx) -> None:
    """Copy the SVG into the built `_static/`."""
    app.config.html_static_path.append(str(STATIC))


def use_vector_icons(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Swap the PNG for the SVG in the launch menu the theme has just put into the page's header buttons."""
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []):
            if button.get("icon") == THEME_ICON:
                button["icon"] = VECTOR_ICON


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", add_static_folder)
    app.connect("html-page-context", use_vector_icons, priority=600)  # after the theme's add_launch_buttons (501)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
