// Package ipfilter holds the ip_filter policy kind (access phase) and the
// address lists behind it: allow and deny lists of IPv4/IPv6 addresses and
// CIDRs, inline or in files, evaluated on the client address the gateway
// computed from its trusted proxies. The same compiled Filter serves the
// global top-level ip_filter, and ParsePrefix reads the intrusion
// detector's allow list.
//
// The threat is a list that can be stepped around. Deny wins over allow;
// an allow_file with no entries is an error, not an empty guest list that
// lets everyone in; every entry is read by the one address-list rule
// (config.ParsePrefix), so the same text never names two networks, and a
// CIDR with host bits set ("192.168.1.10/24": one host, or its /24?) is
// refused rather than widened to its network. Lists
// are compiled once per load into sorted ranges (a file named by several
// routes is read once), and a lookup allocates nothing.
package ipfilter
