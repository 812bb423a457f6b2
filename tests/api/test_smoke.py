import pytest

pytestmark = pytest.mark.django_db


def test_account_by_management_key(tenant_a):
    response = tenant_a.client().get("/api/v1/account/")
    assert response.status_code == 200, response.content
    assert response.json()["email"] == "alice@example.com"
