"""Text made safe and shown alike everywhere: model Markdown rendered inert (``markdown``,
``highlight``), the answer's HTML and stylesheet (``answer``), and the plain wording every layer
shares: USD amounts, escaping, previews (``plain``). Imports nothing of the package above it.
"""
