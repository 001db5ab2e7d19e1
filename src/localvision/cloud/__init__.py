"""The cloud side: sending chosen requests to Google, AWS or Azure, and proving what left.

``router`` chooses local or cloud per request and feature, under ``privacy`` (what must never
leave), ``budgets`` (with ``prices``), ``health`` (cool-downs) and ``shadow`` (second
opinions); ``redaction`` blurs before sending; ``audit`` records every byte that leaves and
every refusal; ``providers/`` are the vendors, each an Annotator over its wire adapter.

Imports the core, ``imaging``, ``metrics`` and ``wire``; the server, the CLI and the advisor
import it.
"""
