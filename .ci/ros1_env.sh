#!/bin/sh
# Debian's ROS 1 for the ros1_bridge node and tests/test_ros1_bridge.py (`make ros1-env`, run by
# `make test`). The packages are for Debian's /usr/bin/python3 (the bridge runs its ROS side
# there; see README, "Install"). Already there: nothing to do. Root on Debian: apt-get (~15 s).
# Otherwise one line says why, and the ROS tests skip.
PKGS="ros-core python3-rospy python3-rosbag python3-rostopic python3-nav-msgs python3-geometry-msgs
      python3-sensor-msgs python3-tf2-msgs"
have() {
    command -v roscore >/dev/null && command -v rostopic >/dev/null && command -v rosbag >/dev/null &&
        /usr/bin/python3 -E -c "import rospy, nav_msgs.msg, sensor_msgs.msg" 2>/dev/null
}
have && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "ros1-env: ROS 1 is not installed and this is not root: the ROS tests skip"; exit 0
fi
if [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null; then
    echo "ros1-env: ROS 1 is not installed and this is not Debian: the ROS tests skip"; exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
apt-get install -y -q $PKGS >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $PKGS >/dev/null 2>&1; } ||
    { echo "ros1-env: apt-get could not install ROS 1: the ROS tests skip"; exit 0; }
have || echo "ros1-env: ROS 1 installed but /usr/bin/python3 cannot import rospy: the ROS tests skip"
