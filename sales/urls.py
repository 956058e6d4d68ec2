from . import commerce_urls, lead_urls, pipeline_urls

app_name = "sales"

urlpatterns = lead_urls.urlpatterns + pipeline_urls.urlpatterns + commerce_urls.urlpatterns
