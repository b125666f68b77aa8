"""Scale benchmarks: edtech-map next to a plain baseline on the same files, in the same process.

Run ``python -m benchmarks --size s|m|l`` (``make bench SIZE=m``). Data comes from the
project's own generator (:func:`edtech_map.samples.generate_workspace`) into
``benchmarks/.cache/<size>/``, made once and reused. Each case (:mod:`benchmarks.cases`) runs
in a child process of its own, so that its peak RSS is its own; inside that child the plain
baseline and the edtech-map path run one after the other on the same files. The runner prints
one table and writes the figures to ``benchmarks/results/<size>-<timestamp>.json``.

``benchmarks/diagram.py`` (the 1,000-tool SVG case) is a colleague's and is called from here.
"""
