"""Finding the digit on a photographed or scanned page, before the MNIST-style normalisation.

A document-imaging front-end in five steps, each a pure function on arrays, each a module,
after a step 0: a sheet photographed lying on a darker desk is the page, the desk around it
painted over in the paper's colour (`paper_only`, `sheet.py`; the number reader takes it
too).

1. `ink_against_paper` (`ink.py`): the paper's colour is estimated around every pixel (a
   grey closing on a coarse copy: it removes strokes but keeps shadows, gradients and
   vignetting) and divided out; ink is how much a pixel absorbs in its most absorbed colour
   channel, so blue, red or black ink, pencil and marker all count. Light ink on a dark
   ground (a blackboard, MNIST itself) is turned around first.
2. `printed_lines` (`lines.py`): ruled lines, margins, grid lines and form-box borders are
   long, thin, straight runs across a good part of the page. They are found by a
   morphological opening with a long line element along the page's own angle (found from
   projection profiles, so a turned page still works); only thin runs are removed, and the
   ink of strokes that cross a line is put back.
3. `digit_components` (`components.py`): the ink's connected components; specks and marks
   touching the frame border are dropped, the component with most ink above the ink level
   is the digit, and the pieces of a broken stroke near it (about as dark: the same pen)
   join it. A digit written across a shadow's edge is taken out of the shadow's band.
   Nothing left, or only shading (a shadow's blob, its edges soft): "no digit found";
   another digit-sized cluster beside it: "several digits found".
4. `find_digit` (`page.py`): the three steps above, and the fifth below, on a page decoded
   at a bounded size (and, for a digit found small on a page reduced for them, again on a
   window around it at the page's own resolution); it returns the digit's ink (light on
   black, cropped) for `core.imaging.normalise`, and its box in the pixels of the upright
   upload.
5. `refuse_non_digit` (`shape.py`): what was found is refused ("no digit found") when it
   is shaped like no digit: a speck, wider than 3 times its height, a long thin mark lying
   along the frame (the page's edge, a shadow's band) or along a step of the page's
   brightness a few pixels inside it (the page's edge, the table beyond), an empty box's
   outline or the sliver its wall leaves, specks taken together (a faint grid's
   crossings). On a page without a digit these are what the first steps leave, and the
   classifier reads them as digits.

The constants that tune each step live beside it, each with why it has its value
(docs/capture.md has the measurements).
"""

from __future__ import annotations

from core.capture.components import (
    EDGE,
    MIN_DIGIT_PX,
    REMNANT_SHARE,
    at_frame,
    box_as_thin_as_a_rule,
    box_gaps,
    digit_components,
    shaded_marks,
    smaller_than_a_digit,
)
from core.capture.ink import (
    NOISE_SIGMAS,
    ink_against_paper,
    ink_threshold,
    noise_level,
    reduce_blocks,
)
from core.capture.lines import (
    LINE_THICKNESS,
    grown_extent,
    longest_run,
    near_lines,
    printed_lines,
)
from core.capture.page import (
    LINE_TRACE,
    TINY_SIDE,
    TRACE_LEVEL,
    Box,
    Digit,
    even_strokes,
    find_digit,
    hysteresis,
    read_digit,
    scaled_box,
)
from core.capture.shape import refuse_non_digit
from core.capture.sheet import paper_only

__all__ = [
    "EDGE",
    "LINE_THICKNESS",
    "LINE_TRACE",
    "MIN_DIGIT_PX",
    "NOISE_SIGMAS",
    "REMNANT_SHARE",
    "TINY_SIDE",
    "TRACE_LEVEL",
    "Box",
    "Digit",
    "at_frame",
    "box_as_thin_as_a_rule",
    "box_gaps",
    "digit_components",
    "even_strokes",
    "find_digit",
    "grown_extent",
    "hysteresis",
    "ink_against_paper",
    "ink_threshold",
    "longest_run",
    "near_lines",
    "noise_level",
    "paper_only",
    "printed_lines",
    "read_digit",
    "reduce_blocks",
    "refuse_non_digit",
    "scaled_box",
    "shaded_marks",
    "smaller_than_a_digit",
]
