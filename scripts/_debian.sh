# Sourced by the ci_*.sh scripts: facts about this machine's Debian set-up.

debian_mirror() {
  # The Debian archive this machine is set up with (not the security one).
  {
    grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{ print $2 }'
    grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{ print $2 }'
  } | grep -E '/debian/?$' | head -n 1
}
