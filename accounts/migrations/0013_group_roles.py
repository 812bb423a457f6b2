"""The console's roles and customer groups (分组倍率): everyone sees the groups and their rule versions;
finance and admin create groups and publish their terms (prices are finance's too).

Like 0005, permissions are created first so a fresh database gets them too. Re-running is harmless."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

_SEE = ["billing.view_customergroup", "billing.view_grouprule"]
_EDIT = ["billing.add_customergroup", "billing.change_customergroup", "billing.delete_customergroup"]
GRANTS = {
    "support": _SEE,
    "finance": [*_SEE, *_EDIT],
    "admin": [*_SEE, *_EDIT],
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
    dependencies = [
        ("accounts", "0012_account_group"),
        ("billing", "0014_customer_groups"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
