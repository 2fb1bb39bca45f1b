// Package suzieq writes a network's facts as the parquet tables of SuzieQ
// (the open-source network observability tool, PyPI suzieq), so that the
// same network can be asked the same questions in both: "apiserver export
// suzieq DIR" and the side-by-side in the apiserver's benchreport.
//
// It writes what SuzieQ's poller would have stored after one poll of every
// device, in SuzieQ's own on-disk layout: tables device, interfaces (from
// which SuzieQ derives address), arpnd, macs, lldp, routes, bgp and vlan,
// each under DIR/TABLE/sqvers=V/namespace=NS/hostname=HOST/ (LayoutPoller),
// or as the coalescer leaves them, one file per table and namespace under
// DIR/coalesced/TABLE/sqvers=V/namespace=NS/ (LayoutCoalesced, what a
// long-running SuzieQ reads). Values are put in SuzieQ's vocabulary
// (interface types ethernet/bond/bond_slave/vlan, master "bridge" for
// switch ports and the VRF for routed ones, BGP state Established or
// NotEstd, one route row per prefix with its equal-cost next hops).
//
// What the facts do not hold is left at SuzieQ's defaults (empty strings,
// zeros): uptimes, counters, route distinguishers, and the devconfig table,
// from which SuzieQ derives a port's access/trunk mode, so its portmode
// reads "unknown" for switch ports.
package suzieq
