"""Teams: every account gets its default project, and every existing API key is put in it."""

from django.db import migrations

DEFAULT_NAME = "Default"


def forwards(apps, schema_editor):
    Account = apps.get_model("accounts", "Account")
    Project = apps.get_model("accounts", "Project")
    ApiKey = apps.get_model("gateway", "ApiKey")
    for account_id in Account.objects.values_list("pk", flat=True).iterator():
        project = Project.objects.filter(account_id=account_id, is_default=True).first()
        if project is None:
            project = Project.objects.create(account_id=account_id, name=DEFAULT_NAME, is_default=True)
        ApiKey.objects.filter(account_id=account_id, project__isnull=True).update(project=project)


def backwards(apps, schema_editor):
    apps.get_model("gateway", "ApiKey").objects.update(project=None)
    apps.get_model("accounts", "Project").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0010_projects"),
        ("gateway", "0007_apikey_project"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
