"""The console's roles and the webhooks: every role reads endpoints and the delivery log; admins change them.

Like 0005, permissions are created first so a fresh database gets them too. Re-running is harmless."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

READ = ["accounts.view_webhookendpoint", "accounts.view_webhookdelivery"]
GRANTS = {
    "support": READ,
    "finance": READ,
    "admin": [*READ, "accounts.add_webhookendpoint", "accounts.change_webhookendpoint",
              "accounts.delete_webhookendpoint", "accounts.change_webhookdelivery"],
}


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for name in names:
            app_label, codename = name.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in GRANTS.items():
        group = Group.objects.filter(name=role).first()
        for name in names if group else ():
            app_label, codename = name.split(".")
            group.permissions.remove(*Permission.objects.filter(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [("accounts", "0008_webhooks")]

    operations = [migrations.RunPython(grant, revoke)]
