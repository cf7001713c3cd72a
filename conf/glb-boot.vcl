# The VCL a Varnish driven by dnslb starts with before dnslb has loaded its
# first one (conf/glb-varnish.service): no backend, every request gets 503
# until dnslb has measured the sites and loaded the VCL of its ranking.
vcl 4.1;

backend default none;
