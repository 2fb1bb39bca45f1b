-- meshq relational model, version 1. One row per fact of the
-- meshq.facts/v1 document; every child table is keyed by the device's
-- hostname and the entry's position in the device's list (the order the
-- collector reported). A value the document leaves out (empty string, zero
-- number, absent list) is NULL. The hostname of every child table names a
-- meshq.devices row (and interface an meshq.interfaces row) without a
-- foreign key: the store writes and deletes whole devices in one
-- transaction, and per-row key checks would double the time of a bulk
-- ingest.

CREATE TABLE meshq.graph_versions (
    version      bigint      PRIMARY KEY,
    operation    text        NOT NULL CHECK (operation IN ('merge', 'replace', 'metadata')),
    devices      integer     NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE meshq.devices (
    hostname      text   PRIMARY KEY,
    mgmt_ip       text,
    vendor        text,
    os            text,
    model         text,
    serial        text,
    version       text,
    role          text,
    site          text,
    metadata      jsonb,
    graph_version bigint NOT NULL
);

CREATE TABLE meshq.interfaces (
    hostname       text    NOT NULL,
    name           text    NOT NULL,
    position       integer NOT NULL,
    description    text,
    type           text,
    lag            text,
    mlag_peer_link boolean NOT NULL DEFAULT false,
    mac            text,
    ifindex        integer,
    admin_up       boolean,
    oper_up        boolean,
    speed_mbps     bigint,
    mtu            integer,
    mode           text,
    access_vlan    integer,
    trunk_vlans    integer[],
    vrf            text,
    zone           text,
    PRIMARY KEY (hostname, name)
);

CREATE TABLE meshq.ip_addresses (
    hostname  text    NOT NULL,
    interface text    NOT NULL,
    position  integer NOT NULL,
    address   text    NOT NULL,
    ip        inet,
    PRIMARY KEY (hostname, interface, position)
);
CREATE INDEX ip_addresses_ip ON meshq.ip_addresses USING gist (ip inet_ops);

CREATE TABLE meshq.address_roles (
    hostname  text    NOT NULL,
    interface text    NOT NULL,
    position  integer NOT NULL,
    ip        text    NOT NULL,
    role      text,
    PRIMARY KEY (hostname, interface, position)
);

CREATE TABLE meshq.vlans (
    hostname text    NOT NULL,
    vlan_id  integer NOT NULL,
    position integer NOT NULL,
    name     text,
    PRIMARY KEY (hostname, vlan_id)
);

CREATE TABLE meshq.links (
    hostname         text    NOT NULL,
    position         integer NOT NULL,
    local_interface  text    NOT NULL,
    remote_hostname  text    NOT NULL,
    remote_interface text,
    protocol         text,
    PRIMARY KEY (hostname, position)
);
CREATE INDEX links_remote ON meshq.links (remote_hostname);

CREATE TABLE meshq.arp_entries (
    hostname  text    NOT NULL,
    position  integer NOT NULL,
    ip        text    NOT NULL,
    mac       text    NOT NULL,
    interface text,
    vrf       text,
    PRIMARY KEY (hostname, position)
);

CREATE TABLE meshq.mac_entries (
    hostname  text    NOT NULL,
    position  integer NOT NULL,
    mac       text    NOT NULL,
    vlan      integer,
    interface text    NOT NULL,
    PRIMARY KEY (hostname, position)
);

CREATE TABLE meshq.routes (
    hostname  text    NOT NULL,
    position  integer NOT NULL,
    vrf       text,
    prefix    text    NOT NULL,
    next_hop  text,
    interface text,
    protocol  text,
    metric    integer,
    PRIMARY KEY (hostname, position)
);

CREATE TABLE meshq.bgp_peers (
    hostname  text    NOT NULL,
    position  integer NOT NULL,
    peer_ip   text    NOT NULL,
    remote_as bigint,
    local_as  bigint,
    state     text,
    vrf       text,
    PRIMARY KEY (hostname, position)
);

-- A device with a security policy has a firewalls row, even an empty one.
CREATE TABLE meshq.firewalls (
    hostname       text PRIMARY KEY,
    default_action text
);

CREATE TABLE meshq.firewall_zones (
    hostname   text    NOT NULL,
    position   integer NOT NULL,
    name       text    NOT NULL,
    interfaces text[],
    PRIMARY KEY (hostname, position)
);

CREATE TABLE meshq.firewall_address_objects (
    hostname text    NOT NULL,
    position integer NOT NULL,
    name     text    NOT NULL,
    type     text    NOT NULL,
    value    text,
    members  text[],
    PRIMARY KEY (hostname, position)
);

CREATE TABLE meshq.firewall_service_objects (
    hostname   text    NOT NULL,
    position   integer NOT NULL,
    name       text    NOT NULL,
    protocol   text,
    dest_ports text,
    members    text[],
    PRIMARY KEY (hostname, position)
);

CREATE TABLE meshq.firewall_rules (
    hostname      text    NOT NULL,
    position      integer NOT NULL,
    rule_id       text    NOT NULL,
    rule_name     text,
    rule_order    integer NOT NULL,
    action        text    NOT NULL,
    src_zones     text[],
    dst_zones     text[],
    src_addresses text[],
    dst_addresses text[],
    services      text[],
    enabled       boolean,
    hit_count     bigint,
    PRIMARY KEY (hostname, position)
);
