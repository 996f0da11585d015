"""venue"""
