# Lazy entries only: twistd --help imports this file, so nothing heavy happens here.
from twisted.application.service import ServiceMaker

NetlabTCP = ServiceMaker(
    "twisted-netlab TCP echo",
    "twisted_netlab.tcp.tap",
    "A framed TCP echo service (the course's 4-byte serial+length header).",
    "netlab-tcp",
)
NetlabWeb = ServiceMaker(
    "twisted-netlab web",
    "twisted_netlab.web.tap",
    "A correct static/caching file server, reverse proxy with CORS and request tools.",
    "netlab-web",
)
Netlab = ServiceMaker(
    "twisted-netlab",
    "twisted_netlab.tap",
    "The framed TCP echo and the web service in one process.",
    "netlab",
)
