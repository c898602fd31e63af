// Package egress is the HTTP client hookd delivers webhooks with. Endpoint
// URLs come from tenants, so every delivery is a request to an address an
// outsider chose; the client is built so that such a request cannot be
// turned against hookd's own network (design invariant 7):
//
//   - The address guard runs in the dialer, on the addresses the name
//     resolved to, and again on the exact address being connected to (the
//     net.Dialer Control hook). A name that resolves to a public address
//     when the endpoint is saved and to 127.0.0.1 at delivery time (DNS
//     rebinding) is refused at delivery time. Loopback, private, link-local
//     (cloud metadata included), CGNAT, unique-local, multicast,
//     documentation and reserved ranges are refused unless an allowlist
//     CIDR covers them; IPv6 forms that carry an IPv4 address
//     (IPv4-mapped, NAT64, 6to4) are judged by that IPv4 address.
//   - No proxy is ever used (environment proxy variables are ignored): a
//     proxy would connect on hookd's behalf and the guard would only ever
//     see the proxy's address.
//   - Redirects are not followed: a 3xx is returned to the caller as it is
//     (it counts as a failed attempt), so a public endpoint cannot bounce a
//     delivery to an internal one.
//   - One deadline covers the whole attempt: DNS, connect, TLS, sending,
//     waiting for the headers and reading the body. A receiver that
//     dribbles its body one byte a second cannot hold a delivery lane.
//   - The response body is read only up to a cap counted after
//     decompression, and only a short prefix of it is kept, so a
//     decompression bomb or a huge response costs bounded memory and time.
//
// The package does not log: the errors it returns name the host, never the
// URL's path or query (where webhook URLs often carry tokens) nor any
// header.
package egress
