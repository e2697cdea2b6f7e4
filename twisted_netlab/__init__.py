"""twisted-netlab: a framed TCP echo, a correct static/caching web server and a proxy."""

__version__ = "0.1.0"
