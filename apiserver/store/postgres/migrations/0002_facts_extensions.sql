-- The facts format's extensions: neighbour states and remote (EVPN)
-- entries, MAC flags and VTEPs, ECMP next hops, route actions and
-- preferences, unnumbered BGP sessions and address families, VXLAN. The
-- nested lists (next hops, address families, the VTEP) are jsonb in the
-- facts format's own shape: they are read with their row, never joined on.

-- An unresolved neighbour (incomplete, failed) has no MAC; an unnumbered
-- BGP session has no peer address.
ALTER TABLE meshq.arp_entries ALTER COLUMN mac DROP NOT NULL;
ALTER TABLE meshq.bgp_peers ALTER COLUMN peer_ip DROP NOT NULL;

ALTER TABLE meshq.arp_entries
    ADD COLUMN state  text,
    ADD COLUMN remote boolean NOT NULL DEFAULT false;

ALTER TABLE meshq.mac_entries
    ADD COLUMN flags       text[],
    ADD COLUMN remote_vtep text;

ALTER TABLE meshq.routes
    ADD COLUMN next_hop_vrf   text,
    ADD COLUMN next_hops      jsonb,
    ADD COLUMN admin_distance integer,
    ADD COLUMN action         text;

ALTER TABLE meshq.bgp_peers
    ADD COLUMN peer_interface text,
    ADD COLUMN afi_safi       jsonb;

ALTER TABLE meshq.devices
    ADD COLUMN vxlan jsonb;
