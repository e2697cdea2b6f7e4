# Lazy entries only: twistd --help imports this file, so nothing heavy happens here.
from twisted.application.service import ServiceMaker

NetlabTCP = ServiceMaker(
    "twisted-netlab TCP echo",
    "twisted_netlab.twistd_cli.tcp",
    "A framed TCP echo service (the course's 4-byte serial+length header).",
    "netlab-tcp",
)
NetlabWeb = ServiceMaker(
    "twisted-netlab web",
    "twisted_netlab.twistd_cli.web",
    "A correct static/caching file server, reverse proxy with CORS and request tools.",
    "netlab-web",
)
Netlab = ServiceMaker(
    "twisted-netlab",
    "twisted_netlab.twistd_cli.netlab",
    "The framed TCP echo and the web service in one process.",
    "netlab",
)
