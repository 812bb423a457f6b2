"""`GET /.well-known/harnmodel-receipts.json`: the keys receipts are signed with (a JWKS)."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from gateway.receipts import keys


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    keys.signer_sync()  # the first key is made on first use: a verifier may fetch keys before any receipt
    response = JsonResponse(keys.jwks())
    response["cache-control"] = "public, max-age=300"  # a rotation is seen within minutes; old keys stay
    response["access-control-allow-origin"] = "*"  # public keys: any page may verify a receipt
    return response
