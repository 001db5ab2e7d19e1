"""The advisor: local or cloud, measured on the user's own images.

``compare`` measures local models and (optionally) the cloud on a folder of images, ``costs``
turns throughput and hardware into a monthly cost and finds the break-even against the
cloud's list prices, ``report`` renders the HTML page.

Imports the core, the engine, ``metrics``, ``training`` (data sets), ``registry`` (to find the
model to measure) and ``cloud`` (prices and providers); only the CLI imports it.
"""
