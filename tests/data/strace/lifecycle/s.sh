#!/bin/sh
/bin/true
