"""``barbershop partner create`` prints a key the API accepts; ``partner revoke`` makes it a 401."""

from __future__ import annotations

import re
import subprocess

from tests.integration.http.conftest import SECRET_KEY
from tests.integration.http.server import barbershop, environment
from tests.integration.partner.conftest import SINGLE, PartnerApi, participant
from tests.integration.partner.test_register_client import WRONG_KEY, assert_error


def _cli(partner: PartnerApi, *args: str) -> subprocess.CompletedProcess[str]:
    settings = partner.api.container.settings
    extra = {"BARBERSHOP_SECRET_KEY": SECRET_KEY}
    if settings.database.url:
        extra["BARBERSHOP_DATABASE_URL"] = settings.database.url
    return subprocess.run(  # noqa: S603 -- our own CLI with fixed arguments
        barbershop(*args),
        env=environment(settings.data_dir, **extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_key_the_cli_prints_works_until_the_cli_revokes_it(partner: PartnerApi) -> None:
    created = _cli(partner, "partner", "create", "--name", "market")
    assert created.returncode == 0, created.stderr
    keys = re.findall(r"bsk_[\w-]+", created.stdout)
    assert len(keys) == 1, created.stdout
    headers = {"Authorization": f"Bearer {keys[0]}"}

    assert partner.api.client.post(SINGLE, json=participant(), headers=headers).status_code == 200

    revoked = _cli(partner, "partner", "revoke", "--name", "market")
    assert revoked.returncode == 0, revoked.stderr
    assert keys[0] not in revoked.stdout + revoked.stderr
    assert_error(partner.api.client.post(SINGLE, json=participant(), headers=headers), 401, WRONG_KEY)
    assert partner.register().status_code == 200  # the other partner's key is untouched
