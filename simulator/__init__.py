"""vasim: a simulator of Linux process address spaces."""
