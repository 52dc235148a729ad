"""Write the bundled sample set into OUT_DIR: ``python datasets/sample/prepare.py OUT_DIR --speakers 3``.

A thin entry point; the generator is ``pdfgc.sample.generate`` in the installed package.
"""

from pdfgc.sample.generate import main

if __name__ == "__main__":
    main()
