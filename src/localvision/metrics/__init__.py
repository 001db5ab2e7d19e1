"""How good answers are: ``evaluation`` scores a classifier against labelled images (with its
HTML page in ``evaluation_report``); ``agreement`` scores two annotators against each other
(the router's shadow mode, the advisor's comparison).

Imports the core, the engine and ``training``'s data sets; used by the cloud side, the advisor
and the CLI.
"""
