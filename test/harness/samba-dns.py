"""Sets the DNS records of one name in a Samba AD DC's own DNS zones (test harness).

Usage: python3 samba-dns.py SMB.CONF NAME 'JSON-LIST'
  JSON-LIST: [{"type": "A", "address": "127.0.0.1"},
              {"type": "SRV", "target": "dc.corp.test", "port": 389, "priority": 0, "weight": 100}]
An empty list removes the name. Writes sam.ldb directly, as samba-tool does,
so the running DC's internal DNS server answers with the new records at once.
"""
import json
import sys

import ldb
from samba.auth import system_session
from samba.ndr import ndr_pack
from samba.param import LoadParm
from samba.provision.sambadns import AAAARecord, ARecord, SRVRecord
from samba.samdb import SamDB


def record(r):
    ttl = r.get('ttl', 60)
    if r['type'] == 'A':
        return ARecord(r['address'], ttl=ttl)
    if r['type'] == 'AAAA':
        return AAAARecord(r['address'], ttl=ttl)
    if r['type'] == 'SRV':
        return SRVRecord(r['target'], r['port'], priority=r.get('priority', 0), weight=r.get('weight', 100), ttl=ttl)
    raise SystemExit('unknown record type %s' % r['type'])


def main():
    conf, name, records = sys.argv[1], sys.argv[2].lower().rstrip('.'), json.loads(sys.argv[3])
    lp = LoadParm()
    lp.load(conf)
    db = SamDB(url=lp.samdb_url(), lp=lp, session_info=system_session())
    new = [record(r) for r in records]
    try:
        db.dns_replace(name, new)  # the name exists (possibly as a tombstone)
        return
    except Exception:
        if not new:
            return
    realm = lp.get('realm').lower()
    base = str(db.domain_dn())
    zones = [
        ('_msdcs.' + realm, 'DC=_msdcs.%s,CN=MicrosoftDNS,DC=ForestDnsZones,%s' % (realm, base)),
        (realm, 'DC=%s,CN=MicrosoftDNS,DC=DomainDnsZones,%s' % (realm, base)),
    ]
    zone, container = next(z for z in zones if name.endswith('.' + z[0]))
    msg = ldb.Message(ldb.Dn(db, 'DC=%s,%s' % (name[: -len(zone) - 1], container)))
    msg['objectClass'] = ['top', 'dnsNode']
    msg['dnsRecord'] = ldb.MessageElement([ndr_pack(r) for r in new], ldb.FLAG_MOD_ADD, 'dnsRecord')
    db.add(msg)


main()
