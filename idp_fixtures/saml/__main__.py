"""``python -m idp_fixtures.saml``: run the fixture SAML IdP for demos and manual tests.

Example (with broker on :8000 and a role ``demo`` trusting ``saml-provider/fixture``)::

    python -m idp_fixtures.saml --port 8100 --sp http://127.0.0.1:8000 --account 000000000000 \\
        --user alice --role demo --provider fixture

then register ``http://127.0.0.1:8100/metadata`` as the SAML provider ``fixture`` and open
``http://127.0.0.1:8000/saml/login?provider=fixture`` (SP-initiated) or
``http://127.0.0.1:8100/idp-initiated`` (IdP-initiated).
"""

from __future__ import annotations

import argparse
import sys
import time

from idp_fixtures.saml.faults import FAULTS
from idp_fixtures.saml.idp import SamlIdp, User
from idp_fixtures.saml.response import DIGEST_ALGORITHMS, SIGNATURE_ALGORITHMS
from idp_fixtures.saml.server import RunningIdp


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m idp_fixtures.saml", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    p.add_argument("--entity-id", default="https://idp.fixture.test/saml")
    p.add_argument("--sp", default="http://127.0.0.1:8000", help="broker's BROKER_PUBLIC_URL")
    p.add_argument("--account", default="000000000000")
    p.add_argument("--provider", default="fixture", help="SAML provider name registered in broker")
    p.add_argument("--user", default="alice")
    p.add_argument("--role", action="append", default=None, help="role name(s) released in the Role attribute")
    p.add_argument("--sign", choices=["none", "assertion", "response", "both"], default="both")
    p.add_argument("--signature-algorithm", choices=SIGNATURE_ALGORITHMS, default="rsa-sha256")
    p.add_argument("--digest-algorithm", choices=DIGEST_ALGORITHMS, default="sha256")
    p.add_argument("--fault", choices=sorted(FAULTS), default=None)
    p.add_argument("--metadata-out", help="also write the metadata to this file")
    args = p.parse_args(argv)

    idp = SamlIdp(entity_id=args.entity_id, sign=args.sign, signature_algorithm=args.signature_algorithm,
                  digest_algorithm=args.digest_algorithm, fault=args.fault)
    base = args.sp.rstrip("/")
    idp.sp_entity_id, idp.sp_acs_url = f"{base}/saml/metadata", f"{base}/saml/acs"
    provider = f"arn:aws:iam::{args.account}:saml-provider/{args.provider}"
    roles = [(f"arn:aws:iam::{args.account}:role/{r}", provider) for r in (args.role or ["demo"])]
    idp.add_user(User.aws(args.user, roles))
    running = RunningIdp(idp, args.host, args.port).start()
    if args.metadata_out:
        with open(args.metadata_out, "w", encoding="utf-8") as fh:
            fh.write(idp.metadata())
    print(f"fixture SAML IdP on {running.url}  (metadata: {running.url}/metadata)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
