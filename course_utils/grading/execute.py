"""Cell execution with bounded output (instructor grading).

A graded kernel can print without end, or display a tiny PNG that decodes to
gigapixels. nbgrader keeps every output in the grader's memory and then in
the autograded notebook and the feedback page. :class:`BoundedExecute` is
nbgrader's ``Execute`` preprocessor with two caps applied as each output
arrives: the bytes a cell may keep, and the pixels of a PNG image. What goes
past a cap is dropped, and the cell says so once, on standard output
(nbgrader zeroes a test cell that wrote to standard error).
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Integer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def output_bytes(output: NotebookNode) -> int:
    """The size of one output's text and data, in characters."""
    if output.get("output_type") == "stream":
        return len(output.get("text", ""))
    if output.get("output_type") == "error":
        return sum(len(line) for line in output.get("traceback", [])) + len(
            output.get("evalue", "")
        )
    return sum(
        len(value) if isinstance(value, str) else len(str(value))
        for value in output.get("data", {}).values()
    )


def png_pixels(data: str) -> int | None:
    """Width times height of a base64 PNG, read from its header; None
    when it is not a PNG."""
    try:
        head = base64.b64decode(data[:44] + "=" * (-len(data[:44]) % 4))
    except (ValueError, TypeError):
        return None
    if (
        len(head) < 24
        or not head.startswith(PNG_SIGNATURE)
        or head[12:16] != b"IHDR"
    ):
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width * height


class BoundedExecute(Execute):
    """nbgrader's ``Execute`` keeping at most ``max_output_bytes`` per
    cell and no oversized PNG."""

    max_output_bytes = Integer(
        2 * 1024**2, help="characters of output a cell keeps"
    ).tag(config=True)
    max_image_pixels = Integer(
        16_000_000, help="pixels of a PNG image an output may show"
    ).tag(config=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept: dict[int, int] = {}
        self._noted: set[int] = set()

    def _update_display_id(self, display_id: str, msg: dict) -> None:
        """An update of an earlier display (``handle.update(...)``)
        passes the same caps, or is ignored."""
        data = msg.get("content", {}).get("data", {})
        size = sum(
            len(value) if isinstance(value, str) else len(str(value))
            for value in data.values()
        )
        pixels = (
            png_pixels(data.get("image/png", ""))
            if isinstance(data.get("image/png"), str)
            else None
        )
        if size > self.max_output_bytes or (
            pixels is not None and pixels > self.max_image_pixels
        ):
            return
        super()._update_display_id(display_id, msg)

    def output(
        self,
        outs: list[NotebookNode],
        msg: dict,
        display_id: str | None,
        cell_index: int,
    ) -> NotebookNode | None:
        """nbclient's handler of one kernel output message, with the byte
        and pixel caps applied.

        Args:
            outs: the outputs of the cell so far; the new output is appended
                to it, and removed again if it goes past a cap.
            msg: the kernel's IOPub message.
            display_id: the display id the output may be updated through, or
                ``None``.
            cell_index: the cell's position in the notebook; the caps count
                per cell.

        Returns:
            The new output, or ``None`` when there is none or it was dropped
            (a dropped output that a display id refers to is kept as an
            empty stream, and the cell's first drop appends one line on
            standard output saying what was dropped).
        """
        out = super().output(outs, msg, display_id, cell_index)
        if out is None:
            return None
        # once capped, the cell keeps nothing more
        reason = "later output" if cell_index in self._noted else ""
        pixels = (
            png_pixels(out.get("data", {}).get("image/png", ""))
            if "data" in out
            else None
        )
        if reason:
            pass
        elif pixels is not None and pixels > self.max_image_pixels:
            reason = (
                f"a PNG image of {pixels:,} pixels (the limit is "
                f"{self.max_image_pixels:,})"
            )
        else:
            kept = self._kept.get(cell_index, 0) + output_bytes(out)
            if kept > self.max_output_bytes:
                reason = f"output past {self.max_output_bytes:,} characters"
            else:
                self._kept[cell_index] = kept
        if not reason:
            return out
        if outs and outs[-1] is out and display_id is None:
            outs.pop()
        # an output that a display id refers to: keep its place, drop
        # its content
        else:
            out.clear()
            out.update(new_output("stream", name="stdout", text=""))
        if cell_index not in self._noted:
            self._noted.add(cell_index)
            outs.append(
                new_output(
                    "stream",
                    name="stdout",
                    text=f"\n[the grader dropped {reason}]\n",
                )
            )
        return None
